"""The engine: one way of measuring under run, --procs, sweep and fleet (the tally, the process
layer, faults, the monitor, the guards). Imports the model, servers and strategies below it."""
