"""InfraProvider implementations: local machines, SSH import, Apache Libcloud clouds.
"""
