"""The scheduler: fair dispatch of generation jobs to the GPU workers, across users."""
