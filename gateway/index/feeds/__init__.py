"""One feed per vendor: how the sync reads that vendor's listings into the index (`base.Feed`)."""
