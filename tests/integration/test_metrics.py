async def test_metrics_count_api_requests_by_route_and_status(client):
    await client.get("/api/health")
    await client.get("/api/auth/me")
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert 'voxlancer_http_requests_total{method="GET",route="/api/auth/me",status="401"}' in text
    assert 'voxlancer_http_request_seconds_bucket{le="0.005",route="/api/health"}' in text
    assert "voxlancer_calls_started_total" in text  # the dialer's series are declared too
