# syntax=docker/dockerfile:1
# One image for every Python process of salesdash (stream worker, app, loadgen); compose.yaml picks the
# process with `command:`. The default command runs the dashboard.
FROM python:3.11-slim-bookworm

# FAUST_DATADIR: faust keeps its local state in "<app>-data" under the working directory by default;
# the code stays root-owned and read-only, so point it at a directory the runtime user owns.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    FAUST_DATADIR=/var/lib/salesdash/stream-data

RUN useradd --system --create-home --uid 10001 --user-group salesdash \
 && install -d -o salesdash -g salesdash /var/lib/salesdash

WORKDIR /srv/salesdash

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The whole repo (minus .dockerignore): `python -m app` run from here finds ./static.
COPY . .
RUN pip install --no-cache-dir . \
 && rm -rf build ./*.egg-info

USER salesdash
EXPOSE 8000
CMD ["python", "-m", "app", "--host", "0.0.0.0", "--port", "8000"]
