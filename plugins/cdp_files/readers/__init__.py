"""File readers: CSV, JSONL/NDJSON and Parquet (optionally gzipped), picked by file name."""

from cdp_files.readers.by_format import ROW, UNFINISHED, read_file, read_pages, unflatten

__all__ = ["ROW", "UNFINISHED", "read_file", "read_pages", "unflatten"]
