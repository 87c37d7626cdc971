"""How every process reaches the S3-compatible object store (AWS S3, MinIO on a cluster, moto locally).

Credentials come from the settings when set there, otherwise from the standard AWS provider chain
(environment, shared files, instance roles), never from code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from loyaltylens.config import Settings


@dataclass(frozen=True)
class S3Options:
    """Endpoint, region and (optional) explicit credentials of the object store."""

    endpoint_url: str | None
    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Options:
        secret = settings.s3_secret_access_key
        return cls(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )

    def credentials(self) -> tuple[str | None, str | None]:
        """``(key id, secret)``: the explicit ones, else whatever the AWS provider chain finds (or ``None``s)."""
        if self.access_key_id and self.secret_access_key:
            return self.access_key_id, self.secret_access_key
        import botocore.session

        found = botocore.session.get_session().get_credentials()
        if found is None:
            return None, None
        frozen = found.get_frozen_credentials()
        return frozen.access_key, frozen.secret_key

    def client(self):
        """A boto3 S3 client for this store."""
        import boto3

        key_id, secret = self.credentials()
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def duckdb_secret_sql(self) -> tuple[str, list[str]]:
        """``CREATE SECRET`` for DuckDB's httpfs with its parameters bound (values never formatted into SQL)."""
        key_id, secret = self.credentials()
        options = ["TYPE s3", "REGION ?"]
        params = [self.region]
        if key_id and secret:
            options += ["KEY_ID ?", "SECRET ?"]
            params += [key_id, secret]
        if self.endpoint_url:
            endpoint = urlparse(self.endpoint_url)
            # A custom endpoint (MinIO, moto) serves buckets as paths, often over plain HTTP.
            options += ["ENDPOINT ?", "URL_STYLE 'path'", f"USE_SSL {str(endpoint.scheme == 'https').lower()}"]
            params.append(endpoint.netloc)
        return f"CREATE OR REPLACE SECRET loyaltylens_s3 ({', '.join(options)})", params


def is_s3_uri(uri: str) -> bool:
    return str(uri).startswith("s3://")
