/// DESIGN "Beyond purge rules": purges the upstream declares on a successful mutation's
/// answer — `Sidecache-Purge: /api/users/7, /api/teams/*, tag=user:7, route=users` —
/// applied with the rules' before the client gets the answer, and never passed on.
public enum UpstreamPurge {
    public static let field = "sidecache-purge"

    /// The scopes named by the field's values. A path (`/…`), a subtree (`/…/*`), a tag
    /// (`tag=`) or a route that exists (`route=`); anything else is skipped and reported.
    public static func scopes(_ values: [String], routes: RouteTable) -> (scopes: [PurgeScope], skipped: [String]) {
        var scopes: [PurgeScope] = [], skipped: [String] = []
        for value in values {
            for member in value.split(separator: ",") {
                let target = member.trimmingSpaces()
                guard !target.isEmpty else { continue }
                if target.hasPrefix("tag=") {
                    // `tag= user:7` means `user:7`: a tag holds no blank, so none of its own
                    // is lost, and kept it named a tag no entry carries.
                    let tag = FieldText.latin1(target.dropFirst(4).trimmingSpaces())
                    if tag.isEmpty || tag.contains(where: BodyTag.separates) { skipped.append(target) } else { scopes.append(.tag(tag)) }
                } else if target.hasPrefix("route="), routes.route(named: String(target.dropFirst(6))) != nil {
                    scopes.append(.route(String(target.dropFirst(6))))
                } else if target.hasPrefix("/"), !target.contains(where: { $0 == "?" || $0 == "#" || $0 == " " }) {
                    if target.hasSuffix("/*") {
                        scopes.append(.subtree(String(target.dropLast())))
                    } else if !target.contains("*") {
                        scopes.append(.path(target))
                    } else {
                        skipped.append(target)
                    }
                } else {
                    skipped.append(target)
                }
            }
        }
        return (scopes, skipped)
    }
}
