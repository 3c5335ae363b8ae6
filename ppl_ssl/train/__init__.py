"""Training: the loop (`loop.fit`) and the small parts it calls, each doing one thing.

- `setup`: data, the system in its precision, the optimiser.
- `step`: `TrainStep`, one optimiser step; `fit` and every benchmark call the same one.
- `checkpoint`: what a checkpoint holds, writing it and resuming from it exactly.
- `guard`: the divergence guard.
- `sinks`: where the step's terms go (train_log.jsonl, TensorBoard, the progress bar).
"""
