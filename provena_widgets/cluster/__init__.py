"""Transfers fanned out over a Dask cluster: planned once in the kernel, run in batches on workers."""
