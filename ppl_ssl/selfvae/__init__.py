"""The selfVAE wing (Gatopoulos & Tomczak): everything selfVAE needs beside its two programs,
`models/selfvae.py` (the generative story) and `guides/selfvae.py` (its inference program).

- `transforms`: the deterministic, discrete transforms y = d(x) (downscale, sketch) and their chain.
- `level_nets`: the convolutional nets of each level, in the compact or the paper's dense architecture.
- `modes`: generation and reconstruction modes (the paper's Section 4.3), and the information each sends.
- `figures`, `run`: the modes' figures and `ppl-ssl sample RUN --mode`.
"""
