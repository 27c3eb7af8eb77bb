# The TMC controller image: `tmc controller` as deploy/base/deployment.yaml runs it.
#   docker build -t registry.example.com/tmc:0.1.0 .
# Runs as 65532 (the Deployment's runAsUser) on a read-only root filesystem; writes nothing but /tmp.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip install . && rm -rf /src

WORKDIR /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["tmc"]
CMD ["controller"]
