"""Paper tables reproduced by `zoo reproduce`: registry, runner and report."""
