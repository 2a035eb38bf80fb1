package main

import (
	"fmt"
	"time"

	"github.com/nvrun/nvrun/runtime"
)

// savePlan writes --plan --out's file (README "Saved plans").
func savePlan(res *runtime.Result, opts runtime.Options, red *runtime.Redactor, path string) error {
	sp, err := runtime.NewSavedPlan(res, opts.Script, opts.VarSalt, red, time.Now())
	if err == nil {
		err = sp.Write(path)
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
