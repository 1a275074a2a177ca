"""Feed readers, normalisers and pseudonymisers: everything between a landing file and a raw table."""
