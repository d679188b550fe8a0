FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agi ./agi
COPY redis_schema ./redis_schema
COPY console ./console
# A fixed user id, so a secret file on the host can be given to it (docker-compose.yml, docs/operations.md).
RUN pip install --no-cache-dir . \
 && groupadd --system --gid 10001 grenswacht \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin grenswacht \
 && install -d -m 0700 -o grenswacht -g grenswacht /var/lib/grenswacht
USER 10001:10001
EXPOSE 4573 9464
# Ready: the store answers within the screening budget and AMI is logged in ([metrics] listen must be set).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/readyz', timeout=4)"]
ENTRYPOINT ["grenswacht"]
CMD ["serve"]
