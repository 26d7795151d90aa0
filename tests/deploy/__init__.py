"""Deployment and monitoring checks: Dockerfile, compose, Prometheus, Grafana."""
