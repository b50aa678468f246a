"""State shared by every replica and worker, in Redis (`LEARNGRAPH_REDIS_URL`).

    link = RedisLink.from_url(url)                    # link.py: the connection, the stream, its health
    RedisEventBus(link)                               # bus.py: events reach every replica's subscribers
    RedisKeys(link)                                   # idempotency.py: keys claimed where all replicas look
    RedisDeliveries(link, window)                     # deliveries.py: a webhook repeat known on every replica
    share_invalidations(cache, link)                  # invalidation.py: caches stay local, drops go everywhere
    ObjectCodec(modules=...)                          # codec.py: answers as JSON another replica can read

Without Redis the data layer's in-process versions serve alone (`gateway.data.events`,
`gateway.data.idempotency`, `gateway.data.deliveries`, `gateway.data.cache`).
"""
