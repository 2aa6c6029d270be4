"""The shared toolkit at the bottom of the layers: what every part needs and no part owns.

Label and field selectors (`selectors`), metav1.Time parsing and formatting (`timefmt`), atomic private
file writes (`files`). Like k8s.io/apimachinery it knows no KubeNode kind and imports nothing of KubeNode
above it, so the embedded server, the client, the runtime and every operator can share one implementation.
"""
