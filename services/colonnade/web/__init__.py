"""The web UI: static files, no build step; served by the gateway at ``/``, by S3 in AWS."""
