// Package runtime hosts the Starlark interpreter that runs nvrun scripts.
//
// It knows nothing about Vault, Nomad or Consul. Builtin modules (package builtins/...)
// plug in through Module, and touch the world only through the effect interface on Run:
//
//   - reads happen directly in the builtin, unless Run.Offline() says not to (then the
//     builtin returns Unknown values);
//   - a builtin that finds live state equal to what the script asks records it with
//     Run.Effect(Change{Action: Unchanged});
//   - any other change is handed to Run.Effect with a function that performs it. In plan
//     mode the runtime records the change and returns Change.Planned (or an Unknown); in
//     apply mode it runs the function, records the outcome and returns its value.
//
// That gives plan and apply one code path: plan text, --json and the apply progress are
// all views of the same records.
package runtime
