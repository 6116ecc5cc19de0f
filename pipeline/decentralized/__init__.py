"""Decentralized training engine shared by the ``consensus`` and ``qgm`` studies.

- :mod:`.topology`: mixing matrices (ring, torus, complete, exponential, social) and their spectral gap;
- :mod:`.comm`: the communication a worker sees (gossip rounds, exact averaging, consensus distance), for
  the single-process simulator (:class:`.comm.StackedComm`, gossip as ``W @ X``);
- :mod:`.algorithms`: D-SGD, DSGDm-N, all-reduce SGDm-N, QG-DSGDm-N, D², gradient tracking, written on
  row blocks ``[rows, d]`` so the same code runs for all n workers at once or for one worker process;
- :mod:`.workers`: n copies of a model stacked with torch.func (vmap over workers);
- :mod:`.simulator`: one training step of all workers, phases (all-reduce or gossip) and consensus control;
- :mod:`.distributed`: the same algorithms as real processes over torch.distributed (torchrun);
- :mod:`.quadratic`: a quadratic toy (D-SGD on f_i(x) = ½(x − b_i)²) with its closed-form E Ξ²;
- :mod:`.runner`: data shards, batches, evaluation and the engine loop a study's run calls.
"""
