"""Where uploaded files are stored: job photos and vendor documents (ARCHITECTURE §7).

Local files under MEDIA_ROOT by default (the embedded run). Setting ``MEDIA_S3_BUCKET`` switches
the default storage to an S3-compatible bucket through django-storages (AWS S3, MinIO, Cloudflare
R2, …). The bucket must be private: nothing uploaded is ever linked by a storage URL; the API
streams each file after checking the caller (bookings/api/photos.py). Credentials are read the
usual way, from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) in
the environment or, with none set, from the instance's or pod's role — never from settings.
"""

from .env import env_int, env_str

FILE_SYSTEM_STORAGE = "django.core.files.storage.FileSystemStorage"
S3_STORAGE = "storages.backends.s3.S3Storage"


def default_storage_config() -> dict:
    """The ``STORAGES["default"]`` entry the environment asks for."""
    bucket = env_str("MEDIA_S3_BUCKET", "")
    if not bucket:
        return {"BACKEND": FILE_SYSTEM_STORAGE}
    return {
        "BACKEND": S3_STORAGE,
        "OPTIONS": {
            "bucket_name": bucket,
            # Key prefix inside the bucket, e.g. "homeserve/prod".
            "location": env_str("MEDIA_S3_PREFIX", ""),
            # Empty for AWS itself; the endpoint of any other S3-compatible service.
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            # "path" for MinIO and most self-hosted services; empty lets boto3 choose.
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE", "") or None,
            "signature_version": "s3v4",
            # No ACL header: objects get the bucket's own (private) policy, and buckets with ACLs
            # disabled (the AWS default) accept the upload.
            "default_acl": None,
            # Should anything ever ask the storage for a URL, it is a short-lived signed one.
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300),
            # Names are random UUIDs: no existence check (one request fewer per file).
            "file_overwrite": True,
        },
    }
