"""The Wan GPU worker: text-to-video and image-to-video with diffusers' Wan pipelines."""
