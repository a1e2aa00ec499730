@testable import AWSEC2
import Foundation
import Testing

@Suite struct SigV4Tests {
    struct OracleCase: Encodable {
        var url: String
        var region: String
        var headers: [[String]]
        var params: [[String]]
        var access_key: String
        var secret_key: String
        var token: String?
        var epoch: Int64
    }

    struct OracleAnswer: Decodable {
        var body: String
        var headers: [String: String]
    }

    /// Values that break naive encoders: reserved characters, spaces, unicode, percent signs.
    static let awkward = [
        "plain", "a b", "a+b", "a/b", "a=b", "a~b", "a&b=c", "100%", "%2F", "ü", "日本語", "🚀 rocket", "tab\there", "new\nline",
        "*", "'quoted'", "\"double\"", "semi;colon", "comma,", "(paren)", "[bracket]", "-_.~", "", " leading", "trailing ",
        "sg-0123456789abcdef0", "10.0.0.0/16", "k8s-vpcnet/node-name",
    ]

    @Test func signaturesAndBodiesEqualBotocores() async throws {
        var generator = SystemRandomNumberGenerator()
        var cases: [OracleCase] = []
        var requests: [(SigV4Signer.Request, AWSCredentials, Date, String)] = []
        let endpoints = ["https://ec2.us-east-1.amazonaws.com/", "http://127.0.0.1:4566/", "https://ec2.eu-west-1.amazonaws.com",
                         "https://ec2.cn-north-1.amazonaws.com.cn/"]
        for i in 0..<80 {
            let endpoint = endpoints[i % endpoints.count]
            let region = endpoint.contains("eu-west-1") ? "eu-west-1" : endpoint.contains("cn-north-1") ? "cn-north-1" : "us-east-1"
            var params = [("Action", i % 2 == 0 ? "DescribeNetworkInterfaces" : "CreateTags"), ("Version", "2016-11-15")]
            for j in 0..<Int.random(in: 1...6, using: &generator) {
                let value = Self.awkward.randomElement(using: &generator)! + (Bool.random(using: &generator) ? Self.awkward.randomElement(using: &generator)! : "")
                params.append(("Filter.\(j + 1).Value.1", value))
                params.append(("Tag.\(j + 1).Key", Self.awkward.randomElement(using: &generator)!))
            }
            let token: String? = i % 3 == 0 ? nil : "FwoGZXIvYXdzE" + String(repeating: "x/+=", count: i % 7)
            let credentials = AWSCredentials(accessKeyID: "AKIA\(i)EXAMPLE", secretAccessKey: "secret/+=\(i)\(Self.awkward[i % Self.awkward.count])",
                                             sessionToken: token)
            // Any second from 1970 to 2100, leap days and year ends included.
            let epoch = i < 4 ? [951_782_400, 1_709_164_799, 1_735_689_599, 0][i] : Int64.random(in: 0...4_102_444_800, using: &generator)
            let body = QueryForm.encode(params)
            let headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
            requests.append((SigV4Signer.Request(method: "POST", url: URL(string: endpoint)!, headers: headers, body: Array(body.utf8)),
                             credentials, Date(timeIntervalSince1970: Double(epoch)), region))
            cases.append(OracleCase(url: endpoint, region: region, headers: headers.map { [$0.0, $0.1] }, params: params.map { [$0.0, $0.1] },
                                    access_key: credentials.accessKeyID, secret_key: credentials.secretAccessKey, token: token, epoch: epoch))
        }
        let answers = try JSONDecoder().decode([OracleAnswer].self, from: await runPeer("sigv4_oracle.py", input: JSONEncoder().encode(cases)))
        #expect(answers.count == cases.count)
        for ((request, credentials, date, region), answer) in zip(requests, answers) {
            #expect(String(decoding: request.body, as: UTF8.self) == answer.body, "form body differs from botocore's")
            let ours = Dictionary(uniqueKeysWithValues: SigV4Signer(region: region, service: "ec2").sign(request, credentials: credentials, date: date)
                .map { ($0.name, $0.value) })
            #expect(ours == answer.headers)
        }
    }

    @Test func formEncodingRoundTrips() {
        for value in Self.awkward {
            let pairs = [("Key \(value)", value)]
            let decoded = QueryForm.decode(QueryForm.encode(pairs))
            #expect(decoded?.first?.0 == pairs[0].0 && decoded?.first?.1 == pairs[0].1)
        }
        #expect(QueryForm.encode([("a", "b c+d/e=f~g")]) == "a=b+c%2Bd%2Fe%3Df~g")
        #expect(QueryForm.decode("a=%ZZ") == nil)
        #expect(QueryForm.decode("a=%C3") == nil, "invalid UTF-8 is rejected")
    }

    @Test func amzDateMatchesTheCalendar() {
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 951_782_400)) == "20000229T000000Z")
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 1_798_761_599.9)) == "20261231T235959Z")
    }

    @Test func descriptionNeverPrintsSecrets() {
        let credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "TOPSECRET", sessionToken: "TOKEN")
        #expect(!credentials.description.contains("TOPSECRET") && !credentials.description.contains("TOKEN"))
    }
}
