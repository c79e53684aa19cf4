"""Benchmarks: the measuring code behind BENCHMARKS.md, driven by the scripts in scripts/.

- ``measure``: the machine, clocks, child processes and their memory, the matmul peak.
- ``extraction``: PDF pages per CPU second, ruled-table pages, OCR character error rate.
- ``quality``: the retrieval-quality sweep over BEIR sets (modes, language fairness, lexical
  analysers, fusion settings, precisions, chunk sizes) and the development questions, all
  scored by ``polyfind.eval`` (the metric is defined there, once).
- ``questions``: page-level questions about real reports (modes, settings variants, chunk
  sizes) and the pinned pages, scored by ``polyfind.eval``.
- ``speed``: embedding throughput, threads, indexing, search and serving.
- ``scale``: the vector index (FAISS, and Milvus through ``milvus_server``) at a million
  synthetic vectors.
- ``cluster``: indexing on Dask workers against in-process, and the writer's commit rate.
- ``stores``: the Milvus store against the embedded one on the same chunks and vectors.
- ``milvus_server``: a real Milvus server on 127.0.0.1 (milvus-lite's engine), for the tests
  and these benchmarks.
- ``render``: every driver writes its results as JSON into benchmarks/; ``render`` rewrites
  the generated blocks of BENCHMARKS.md from those files (``tables`` holds the renderers).
"""
