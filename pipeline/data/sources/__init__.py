"""One module per dataset source; each exposes ``load(data_root, download, **options) -> DatasetBundle``."""
