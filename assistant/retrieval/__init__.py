"""Finding papers for a query: dense and BM25 search fused, filtered by metadata."""
