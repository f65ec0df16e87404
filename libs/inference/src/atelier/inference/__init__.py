"""What every GPU service runs around its model: the service's entry (`service`), the
generation worker (`worker`), where the model runs (`device`), step progress and previews
(`progress`), the pipeline classes' common ground (`pipelines`), model folders (`models`)
and the encoding of what it makes (`media`).

torch, diffusers and PyAV are imported inside the functions that need them: importing any
module here never does."""
