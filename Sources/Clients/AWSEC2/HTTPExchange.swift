import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP request/response over async-http-client, bounded in time and size, with every failure
/// mapped to an ``EC2Error``. Connection reuse comes from the shared `HTTPClient`'s pool.
struct HTTPExchange: Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
        }
    }

    let client: HTTPClient
    /// The largest body read; a larger one fails with `responseTooLarge` rather than exhausting memory.
    let maxResponseBytes: Int

    func send(method: HTTPMethod, url: URL, headers: [(String, String)], body: [UInt8], timeout: Duration) async throws(EC2Error) -> Response {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !body.isEmpty || method == .POST { request.body = .bytes(ByteBuffer(bytes: body)) }
        let prepared = request
        let client = self.client, limit = maxResponseBytes
        let seconds = timeout.seconds
        do {
            // Race the whole exchange (head and body) against the deadline: the client's own
            // deadline does not bound a body that trickles in.
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask {
                    let response = try await client.execute(prepared, timeout: .nanoseconds(Int64(seconds * 1e9)))
                    let buffer = try await response.body.collect(upTo: limit)
                    return Response(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                                    body: Array(buffer.readableBytesView))
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else { throw EC2Error.timeout(seconds: seconds) }
                return response
            }
        } catch let error as EC2Error {
            throw error
        } catch is NIOTooManyBytesError {
            throw .responseTooLarge(limit: limit)
        } catch let error as HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                throw .timeout(seconds: seconds)
            default:
                throw .transport(String(describing: error))
            }
        } catch is CancellationError {
            throw .transport("cancelled")
        } catch {
            throw .transport(String(describing: error))
        }
    }
}
