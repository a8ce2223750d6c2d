from setuptools import find_packages, setup

setup(
    name="rnnsound",
    version="0.1.0",
    description="Raw-audio generation with a PyTensor GRU/LSTM: a reproduction of the 2016 "
                "'Sound generation summary' experiment",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["rnnsound", "rnnsound.*"]),
    # Ranges are the versions tested here (lower) and the next major version (upper).
    install_requires=[
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "h5py>=3.9,<4",
        "soundfile>=0.12,<0.15",
        "tqdm>=4.60,<5",
        "matplotlib>=3.7,<4",
        "pyloudnorm>=0.1.1,<0.3",  # ITU-R BS.1770 loudness of generated clips
        "pytensor>=3.0,<4",
        "jax>=0.7,<0.11",
        "jaxlib>=0.7,<0.11",
        "distributed>=2024.1",   # CalVer (YYYY.M.P): no major version to bound
        "dask>=2024.1",
        "dask-jobqueue>=0.8,<0.10",
        "bokeh>=3.1,<4",         # the Dask dashboard
        "psutil>=5.9,<8",        # available memory, checked before long generations
    ],
    extras_require={
        "test": ["pytest>=7,<10", "pytest-xdist>=3,<4",
                 "librosa>=0.10,<2",   # the reference the flatness metric is tested against
                 "ruff>=0.6,<1"],      # the linter .ci/run runs (ruff.toml)
        "bench": ["torch>=2.2,<3"],
        "cuda": ["jax[cuda12]>=0.7,<0.11"],  # JAX's CUDA wheels: training and generation on an NVIDIA GPU
    },
    entry_points={"console_scripts": ["rnnsound=rnnsound.__main__:main"]},
)
