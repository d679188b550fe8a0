FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agi ./agi
COPY redis_schema ./redis_schema
RUN pip install --no-cache-dir . && useradd --system grenswacht && mkdir -p /var/lib/grenswacht && chown grenswacht /var/lib/grenswacht
USER grenswacht
EXPOSE 4573
ENTRYPOINT ["grenswacht"]
CMD ["serve"]
