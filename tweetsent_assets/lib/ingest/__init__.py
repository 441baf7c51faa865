"""Landing objects to rows: object stores, records, manifests, batching, bronze and silver rows, data sets, replay."""
