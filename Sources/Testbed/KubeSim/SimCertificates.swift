import Crypto
import Foundation
import SwiftASN1
import VPCNetCore
import X509

/// A throwaway certificate authority for one simulator run, as kind and kubeadm make for a real
/// cluster: a CA, a serving certificate for the listen address, and an admin client certificate
/// (`O=system:masters`) that kubectl and vpcnet's client present. Nothing is written to disk
/// unless the caller does; the kubeconfig carries all three inline.
public struct SimCertificates: Sendable {
    public let caPEM: String
    public let serverCertificatePEM: String
    public let serverKeyPEM: String
    public let clientCertificatePEM: String
    public let clientKeyPEM: String

    /// `hosts` are the names the serving certificate is valid for (IP literals become IP SANs).
    public static func generate(hosts: [String], now: Date = Date()) throws -> SimCertificates {
        let notBefore = now.addingTimeInterval(-3600)
        let notAfter = now.addingTimeInterval(365 * 86_400)
        let caKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let caName = try DistinguishedName { CommonName("vpcnet-sim CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: caKey.publicKey, notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            },
            issuerPrivateKey: caKey)

        func leaf(_ subject: DistinguishedName, usage: ExtendedKeyUsage.Usage, names: [GeneralName]) throws -> (String, String) {
            let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: key.publicKey, notValidBefore: notBefore, notValidAfter: notAfter,
                issuer: caName, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([usage])
                    if !names.isEmpty { SubjectAlternativeNames(names) }
                },
                issuerPrivateKey: caKey)
            return (try certificate.serializeAsPEM().pemString, try key.serializeAsPEM().pemString)
        }

        let serverNames = hosts.map { host -> GeneralName in
            if let v4 = IPv4Address(host) {
                let value = v4.rawValue
                return .ipAddress(ASN1OctetString(contentBytes: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]))
            }
            return .dnsName(host)
        }
        let server = try leaf(try DistinguishedName { CommonName("vpcnet-sim apiserver") }, usage: .serverAuth, names: serverNames)
        let client = try leaf(try DistinguishedName {
            OrganizationName("system:masters")
            CommonName("vpcnet-sim-admin")
        }, usage: .clientAuth, names: [])
        return SimCertificates(caPEM: try ca.serializeAsPEM().pemString, serverCertificatePEM: server.0, serverKeyPEM: server.1,
                               clientCertificatePEM: client.0, clientKeyPEM: client.1)
    }
}

