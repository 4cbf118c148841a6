# syntax=docker/dockerfile:1
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

COPY requirements.txt /opt/ckaction/requirements.txt
RUN pip install --no-cache-dir -r /opt/ckaction/requirements.txt

COPY pyproject.toml requirements.txt README.md entrypoint.py /opt/ckaction/
COPY ckaction /opt/ckaction/ckaction
RUN pip install --no-cache-dir --no-deps /opt/ckaction

ENTRYPOINT ["/usr/local/bin/python", "/opt/ckaction/entrypoint.py"]
