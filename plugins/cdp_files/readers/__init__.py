"""File readers: CSV, JSONL/NDJSON and Parquet (optionally gzipped), picked by file name."""

from cdp_files.readers.by_format import UNFINISHED, read_file, read_pages, unflatten

__all__ = ["UNFINISHED", "read_file", "read_pages", "unflatten"]
