"""What every GPU service runs around its model: the service's entry (`service`) and its
warm start (`warmup`), the generation worker (`worker`) with the jobs it hands its renderer
(`jobs`), gathered into batches across requests (`batching`) and rendered together, split
when a call fails (`batch_render`), each job stopping on its own (`batch_steps`); where the
model runs (`device`) and how a failure there is read (`faults`), step progress and previews
(`progress`), step caching (`stepcache`), the pipeline classes' common ground (`pipelines`),
model folders (`models`) and the encoding of what it makes (`media`).

torch, diffusers and PyAV are imported inside the functions that need them: importing any
module here never does."""
