import NIOCore

/// Why a transfer failed. `kind` decides the proxy's status code and metric label;
/// `detail` is the human text for the JSON error body and the log.
public struct UpstreamFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// No connection: refused, unreachable, or the name did not resolve.
        case connect
        /// Connect, head or idle-body timeout.
        case timeout
        /// The upstream broke HTTP: closed early, sent nothing, or sent garbage.
        case protocolError
        /// `UpstreamTransfer.cancel()` or `UpstreamClient.shutdown()`.
        case cancelled
        case other
    }

    public var kind: Kind
    /// The request went out whole or in part before the failure (curl counted its bytes):
    /// the upstream may have acted on it. False when no connection was made.
    public var requestSent = false
    public var detail: String

    public init(kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "upstream \(kind.rawValue): \(detail)" }
}

extension UpstreamFailure {
    static let cancelled = UpstreamFailure(kind: .cancelled, detail: "transfer cancelled")
    static let shutDown = UpstreamFailure(kind: .cancelled, detail: "upstream client shut down")

    static func headTimeout(_ limit: TimeAmount) -> UpstreamFailure {
        UpstreamFailure(kind: .timeout, detail: "no response head within \(limit.shortDescription)")
    }

    static func idleBodyTimeout(_ limit: TimeAmount) -> UpstreamFailure {
        UpstreamFailure(kind: .timeout, detail: "no body data for \(limit.shortDescription)")
    }
}

extension TimeAmount {
    /// "30s", or "250ms" when not a whole number of seconds: for error texts.
    var shortDescription: String {
        let ms = nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}
