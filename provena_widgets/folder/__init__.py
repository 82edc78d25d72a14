"""The dataset folder on S3, under :class:`~provena_widgets.store.DatasetStore`: the connection,
listings, deleting, and deciding what a transfer will do."""
