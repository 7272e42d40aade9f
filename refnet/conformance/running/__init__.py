"""Running the checks: the runner, its limits and hangs, one supervised and sandboxed worker per submission, a class."""
