# The Voxlancer image: one image, two services in docker-compose.yml (api and dialer).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir . \
    && useradd --system --uid 1000 --home-dir /var/lib/voxlancer --create-home voxlancer
USER voxlancer
WORKDIR /var/lib/voxlancer
ENTRYPOINT ["voxlancer"]
