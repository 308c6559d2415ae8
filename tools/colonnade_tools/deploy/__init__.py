"""Deployment helpers shared by ``scripts/deploy.py`` and the Terraform tests."""
