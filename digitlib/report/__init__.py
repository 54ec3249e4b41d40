"""What a report shows (the notebook's kernel): figures, tables, the headline, diagnosis, calibration,
robustness, what the network looks at, significance, comparisons, and the files a run saves."""
