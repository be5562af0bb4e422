import Foundation
import Logging
import Metrics
import ViewCache

/// Where a committed command's fence goes: its album and new version, so that Redis never again serves
/// a view of the album below it. Delivered after the commit and before the answer, so that a client
/// reading without a token after the answer does not get the cached older view.
protocol FenceDelivery: Sendable {
    func deliver(album: UUID, version: Int) async
}

/// Straight to Redis, best effort: when Redis cannot take the fence, the command still succeeds and the
/// album's cached view may stay older until its TTL. The SQLite outbox (issue 6, next) makes delivery
/// durable across Redis outages and crashes.
struct DirectFences: FenceDelivery {
    let cache: ViewCache
    let logger: Logger
    let undelivered = Counter(label: "catalog_fences_undelivered_total")

    func deliver(album: UUID, version: Int) async {
        do {
            try await cache.raiseFences([(album, version)])
        } catch {
            undelivered.increment()
            logger.warning(
                "fence not delivered; the album's cached view may stay older until its TTL",
                metadata: ["album.id": "\(album)", "album.version": "\(version)"]
            )
        }
    }
}
