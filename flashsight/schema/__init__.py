"""The ground floor: contracts that every other package relies on, importing nothing of flashsight above them.

- tables:         the canonical tables (tables.toml: columns in order, Arrow types, required), `conform`, `validate`
- layout:         file and folder names of run and job directories
- contract:       the workload process contract (environment variables, the measured NVTX range's name)
- config:         `config_id`, the stable key of a workload config across tools and runs
- metric_catalog: canonical ncu columns -> candidate ncu metrics, per architecture and ncu version
- stalls:         the warp-stall vocabulary of both ncu families
"""
