import AWSEC2
import Foundation

/// Verifies SigV4 signatures of incoming requests against the configured access keys, as EC2
/// does: unknown key or wrong signature → `AuthFailure` (401); a request time more than 15
/// minutes from the server's clock → `RequestExpired` (400).
struct SimAuth: Sendable {
    var keys: [String: String]
    var region: String
    var maxSkew: TimeInterval = 900

    func verify(method: String, url: URL, headers: [(String, String)], body: [UInt8], now: Date) throws(SimError) {
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
        let failure = SimError("AuthFailure", "AWS was not able to validate the provided access credentials", status: 401)
        guard let authorization = header("authorization"), authorization.hasPrefix("AWS4-HMAC-SHA256 ") else {
            throw SimError("MissingAuthenticationToken", "Request is missing Authentication Token", status: 401)
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
            throw SimError("IncompleteSignature", "The request signature does not conform to AWS standards", status: 400)
        }
        let scope = credential.split(separator: "/").map(String.init)
        guard scope.count == 5, scope[3] == "ec2", scope[4] == "aws4_request" else { throw failure }
        guard let secret = keys[scope[0]] else { throw failure }
        guard scope[2] == region else {
            throw SimError("AuthFailure", "Credential should be scoped to a valid region, not '\(scope[2])'", status: 401)
        }
        guard let amzDate = header("x-amz-date"), let date = SigV4Signer.parseAmzDate(amzDate), amzDate.hasPrefix(scope[1]) else {
            throw SimError("IncompleteSignature", "X-Amz-Date is missing or malformed", status: 400)
        }
        guard abs(date.timeIntervalSince(now)) <= maxSkew else {
            throw SimError("RequestExpired", "Request has expired. Timestamp date is \(amzDate)")
        }
        // Recompute over exactly the headers the client signed; the signer adds X-Amz-Date and the token itself.
        let names = signed.split(separator: ";").map(String.init)
        let covered = names.filter { $0 != "x-amz-date" && $0 != "x-amz-security-token" }.map { name in
            (name: name, value: header(name) ?? "")
        }
        let credentials = AWSCredentials(accessKeyID: scope[0], secretAccessKey: secret,
                                         sessionToken: names.contains("x-amz-security-token") ? header("x-amz-security-token") : nil)
        let expected = SigV4Signer(region: region, service: "ec2")
            .sign(.init(method: method, url: url, headers: covered, body: body), credentials: credentials, date: date)
            .first { $0.name == "Authorization" }?.value
        guard let expected, expected.hasSuffix("Signature=\(signature)") else {
            throw SimError("AuthFailure", "The request signature we calculated does not match the signature you provided.", status: 401)
        }
    }
}
