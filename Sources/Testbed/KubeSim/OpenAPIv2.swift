/// `GET /openapi/v2`: what kubectl fetches to validate a `List` on the client (kubectl's
/// validation of single objects asks the server instead, through OpenAPI v3's `fieldValidation`).
/// A protobuf `openapi.v2.Document` (google/gnostic's `OpenAPIv2.proto`) with no definitions:
/// kubectl then skips client-side checks of the items, and the server checks each item as it
/// checks any object (``KubeValidation``), as it does for a `List` sent to a real API server with
/// fields its schema lacks.
enum OpenAPIv2 {
    /// What kube-openapi answers with (the `@` of the type kubectl accepts is not valid in a response).
    static let contentType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

    /// `swagger` (1) "2.0", `info` (2) {`title` (1), `version` (2)}, `paths` (8) empty.
    static let document: [UInt8] = {
        func field(_ number: UInt8, _ bytes: [UInt8]) -> [UInt8] { [number << 3 | 2, UInt8(bytes.count)] + bytes }
        let info = field(1, Array("vpcnet-sim".utf8)) + field(2, Array("v1.32.0".utf8))
        return field(1, Array("2.0".utf8)) + field(2, info) + field(8, [])
    }()
}
