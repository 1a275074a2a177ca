"""Store: the warehouse API, DDL helpers, audit log, incremental bookkeeping and publish."""
