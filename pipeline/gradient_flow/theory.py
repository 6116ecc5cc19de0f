"""Symbolic (sympy) checks of every identity the study relies on (derived, docs/gradient_flow.md §2).

The checks are listed in §6 of that file, and each check's ``section`` names its subsection of §2.

Each check returns ``{"expression", "residual", "passes", "method", "section"}``: ``expression`` is the
quantity that must vanish, ``residual`` what sympy simplified it to (``"0"`` when it holds). One check, the
Riccati closed form for a general (non-diagonal) symmetric F, is numerical in 40-digit mpmath arithmetic
and says so in ``method``; the symbolic Riccati checks use a diagonal F, which covers any symmetric F by
the covariance P_F(Z0) = O·P_Λ(OᵀZ0)·Oᵀ for F = OΛOᵀ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import sympy as sp

t = sp.Symbol("t", real=True)


def _result(expression: Any, residual: Any, section: str, method: str = "symbolic") -> dict[str, Any]:
    if isinstance(residual, sp.MatrixBase):
        passes = all(sp.simplify(entry) == 0 for entry in residual)
        residual_text = str(residual.tolist())
    else:
        passes = sp.simplify(residual) == 0
        residual_text = str(residual)
    return {
        "expression": str(expression),
        "residual": residual_text,
        "passes": bool(passes),
        "method": method,
        "section": section,
    }


def _matrix(name: str, rows: int, cols: int, of_t: bool = False) -> sp.Matrix:
    def entry(i: int, j: int) -> sp.Expr:
        return sp.Function(f"{name}{i}{j}")(t) if of_t else sp.Symbol(f"{name}{i}{j}", real=True)

    return sp.Matrix(rows, cols, entry)


def imbalance_conserved(m: int, k: int, n: int) -> dict[str, Any]:
    """d/dt(W1ᵀW1 − W2W2ᵀ) = 0 under Ẇ1 = −GW2ᵀ, Ẇ2 = −W1ᵀG for a generic G (derived, §2.2)."""
    W1, W2, G = _matrix("a", m, k, True), _matrix("b", k, n, True), _matrix("g", m, n)
    imbalance = W1.T * W1 - W2 * W2.T
    flow = {sp.Derivative(W1[i, j], t): (-G * W2.T)[i, j] for i in range(m) for j in range(k)}
    flow |= {sp.Derivative(W2[i, j], t): (-W1.T * G)[i, j] for i in range(k) for j in range(n)}
    residual = imbalance.diff(t).subs(flow).applyfunc(sp.expand)
    return _result(f"d/dt(W1^T W1 - W2 W2^T), W1 {m}x{k}, W2 {k}x{n}, generic G", residual, "2.2")


def square_loss_gradient(m: int, k: int, n: int) -> dict[str, Any]:
    """∂/∂W1 ½‖Y − W1W2‖² = GW2ᵀ and ∂/∂W2 = W1ᵀG with G = −(Y − W1W2) (derived, §2.1–2.2)."""
    W1, W2, Y = _matrix("a", m, k), _matrix("b", k, n), _matrix("y", m, n)
    R = Y - W1 * W2
    loss = sp.Rational(1, 2) * sum(entry**2 for entry in R)
    G = -R
    res1 = sp.Matrix(m, k, lambda i, j: sp.diff(loss, W1[i, j])) - G * W2.T
    res2 = sp.Matrix(k, n, lambda i, j: sp.diff(loss, W2[i, j])) - W1.T * G
    residual = sp.Matrix.vstack(res1.reshape(m * k, 1), res2.reshape(k * n, 1)).applyfunc(sp.expand)
    return _result(f"grad of 1/2|Y - W1 W2|^2 minus (G W2^T, W1^T G), {m}x{k}x{n}", residual, "2.1")


def _scalar_flow() -> tuple[sp.Expr, sp.Expr, sp.Symbol, dict[Any, sp.Expr]]:
    u, v = sp.Function("u")(t), sp.Function("v")(t)
    y = sp.Symbol("y", positive=True)
    r = y - u * v
    return u, v, y, {sp.Derivative(u, t): r * v, sp.Derivative(v, t): r * u}


def scalar_lambda_conserved() -> dict[str, Any]:
    """d/dt(u² − v²) = 0 under u̇ = (y − uv)v, v̇ = (y − uv)u (derived, §2.3)."""
    u, v, _, flow = _scalar_flow()
    residual = sp.expand(sp.diff(u**2 - v**2, t).subs(flow))
    return _result("d/dt(u^2 - v^2)", residual, "2.3")


def scalar_wdot_factorisation() -> dict[str, Any]:
    """ẇ = d/dt(uv) = (u² + v²)(y − uv) (derived, §2.3)."""
    u, v, y, flow = _scalar_flow()
    residual = sp.expand(sp.diff(u * v, t).subs(flow) - (u**2 + v**2) * (y - u * v))
    return _result("d/dt(uv) - (u^2 + v^2)(y - uv)", residual, "2.3")


def scalar_sum_of_squares_identity() -> dict[str, Any]:
    """(u² + v²)² = (u² − v²)² + 4u²v², so u² + v² = sqrt(λ² + 4w²) (derived, §2.3)."""
    u, v = sp.symbols("u v", real=True)
    residual = sp.expand((u**2 + v**2) ** 2 - (u**2 - v**2) ** 2 - 4 * u**2 * v**2)
    return _result("(u^2+v^2)^2 - (u^2-v^2)^2 - 4u^2v^2", residual, "2.3")


def scalar_wdot_in_w() -> dict[str, Any]:
    """For u, v > 0: (u² + v²)(y − uv) = (y − w)·sqrt(λ² + 4w²) with w = uv, λ = u² − v² (§2.3)."""
    u, v, y = sp.symbols("u v y", positive=True)
    lam, w = u**2 - v**2, u * v
    residual = sp.simplify(
        sp.factor((y - w) * sp.sqrt(sp.expand(lam**2 + 4 * w**2))) - (u**2 + v**2) * (y - w)
    )
    return _result("(y - w) sqrt(lam^2 + 4w^2) - (u^2 + v^2)(y - uv)", residual, "2.3")


def _potential() -> tuple[sp.Expr, sp.Symbol, sp.Symbol, sp.Symbol]:
    w, y = sp.symbols("w y", positive=True)
    lam = sp.Symbol("lambda", real=True)
    a = sp.sqrt(lam**2 + 4 * y**2)
    G = sp.log((a * sp.sqrt(lam**2 + 4 * w**2) + lam**2 + 4 * y * w) / (y - w)) / a
    return G, w, y, lam


def scalar_potential_derivative() -> dict[str, Any]:
    """G'(w) = 1/((y − w)·sqrt(λ² + 4w²)), so t = G(w(t)) − G(w0) solves ẇ = (y − w)sqrt(λ² + 4w²) (§2.3)."""
    G, w, y, lam = _potential()
    residual = sp.simplify(sp.together(sp.diff(G, w) - 1 / ((y - w) * sp.sqrt(lam**2 + 4 * w**2))))
    return _result("G'(w) - 1/((y - w) sqrt(lam^2 + 4w^2))", residual, "2.3")


def scalar_linearised_rate() -> dict[str, Any]:
    """d/dw[(y − w)·sqrt(λ² + 4w²)] at w = y equals −sqrt(λ² + 4y²) (derived, §2.3)."""
    w, y = sp.symbols("w y", positive=True)
    lam = sp.Symbol("lambda", real=True)
    slope = sp.diff((y - w) * sp.sqrt(lam**2 + 4 * w**2), w).subs(w, y)
    return _result(
        "d/dw[(y-w) sqrt(lam^2+4w^2)]|_{w=y} + sqrt(lam^2+4y^2)", slope + sp.sqrt(lam**2 + 4 * y**2), "2.3"
    )


def scalar_logistic() -> dict[str, Any]:
    """λ = 0: w(t) = y·w0·e^{2yt}/(y + w0(e^{2yt} − 1)) solves ẇ = 2w(y − w) with w(0) = w0 (§2.3)."""
    y, w0 = sp.symbols("y w0", positive=True)
    e = sp.exp(2 * y * t)
    w = y * w0 * e / (y + w0 * (e - 1))
    residual = sp.Matrix([sp.simplify(sp.diff(w, t) - 2 * w * (y - w)), sp.simplify(w.subs(t, 0) - w0)])
    return _result("[w' - 2w(y - w), w(0) - w0] for the logistic w(t)", residual, "2.3")


def scalar_potential_matches_logistic() -> dict[str, Any]:
    """At λ = 0 the implicit form G(w(t)) − G(w0) = t holds for the logistic w(t) (derived, §2.3)."""
    G, w, y, lam = _potential()
    w0 = sp.Symbol("w0", positive=True)
    e = sp.exp(2 * y * t)
    logistic = y * w0 * e / (y + w0 * (e - 1))
    G0 = G.subs(lam, 0)
    difference = G0.subs(w, logistic) - G0.subs(w, w0) - t
    residual = sp.simplify(sp.expand_log(sp.simplify(difference), force=True))
    return _result("G(w(t)) - G(w0) - t at lambda = 0, w logistic", residual, "2.3")


def flow_matrix_spectrum() -> dict[str, Any]:
    """det(F − μI) for the 2×2 block [[λ/2, σ], [σ, −λ/2]] is μ² − (λ²/4 + σ²): μ = ±sqrt(λ²/4 + σ²),
    and twice that is the rate sqrt(λ² + 4σ²) (derived, §2.4)."""
    lam, mu = sp.symbols("lambda mu", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    F = sp.Matrix([[lam / 2, sigma], [sigma, -lam / 2]])
    charpoly = sp.expand((F - mu * sp.eye(2)).det())
    rate = 2 * sp.sqrt(lam**2 / 4 + sigma**2) - sp.sqrt(lam**2 + 4 * sigma**2)
    residual = sp.Matrix([charpoly - (mu**2 - lam**2 / 4 - sigma**2), sp.simplify(rate)])
    return _result(
        "[det(F - mu I) - (mu^2 - lam^2/4 - sigma^2), 2 mu_+ - sqrt(lam^2+4 sigma^2)]", residual, "2.4"
    )


def _riccati_diagonal(fs: list[sp.Expr], k: int) -> tuple[sp.Matrix, sp.Matrix]:
    """P(t) = e^{Ft}Z0 N⁻¹ Z0ᵀe^{Ft} for F = diag(fs) (entries 0 allowed: then ∫₀ᵗ e^{0} ds = t)."""
    size = len(fs)
    Z0 = _matrix("z", size, k)
    expF = sp.diag(*[sp.exp(f * t) for f in fs])
    integral = sp.diag(*[t if f == 0 else (sp.exp(2 * f * t) - 1) / (2 * f) for f in fs])
    N = sp.eye(k) + Z0.T * integral * Z0
    P = expF * Z0 * N.inv() * Z0.T * expF
    return P, sp.diag(*fs)


def riccati_closed_form(fs: list[sp.Expr], k: int, label: str) -> dict[str, Any]:
    """Ṗ − (FP + PF − P²) = 0 for the closed form, F diagonal with symbolic t (derived, §2.4)."""
    P, F = _riccati_diagonal(fs, k)
    residual = (P.diff(t) - (F * P + P * F - P * P)).applyfunc(lambda e: sp.simplify(sp.together(e)))
    return _result(f"P' - (FP + PF - P^2), closed form, {label}", residual, "2.4")


def riccati_polynomial(size: int, k: int, singular: bool = False) -> dict[str, Any]:
    """The Riccati closed form for F = diag(f_1..f_size) and a symbolic Z0 (size×k), as polynomial algebra.

    With E_i = e^{f_i t} and I_i = ∫₀ᵗ e^{2f_i s} ds, M = diag(E)Z0 and N = I + Z0ᵀdiag(I)Z0, the closed
    form is P = M adj(N) Mᵀ / det N. The proof only needs Ė_i = f_iE_i and İ_i = E_i², so the check
    differentiates with that derivation and verifies that det(N)²·(Ṗ − FP − PF + P²) expands to zero;
    a second entry checks that e^{ft} and (e^{2ft} − 1)/(2f) (or t when f = 0, ``singular``) obey those
    derivatives with I(0) = 0 (derived, §2.4).
    """
    fs = list(sp.symbols(f"f1:{size + 1}", real=True))
    if singular:
        fs[-1] = sp.Integer(0)
    Es, Is = sp.symbols(f"E1:{size + 1}"), sp.symbols(f"I1:{size + 1}")
    Z0 = _matrix("z", size, k)
    M = sp.diag(*Es) * Z0
    N = sp.eye(k) + Z0.T * sp.diag(*Is) * Z0
    det, P_num = sp.expand(N.det()), (M * N.adjugate() * M.T).applyfunc(sp.expand)

    def derivative(expr: sp.Expr) -> sp.Expr:
        terms = [sp.diff(expr, E) * f * E for E, f in zip(Es, fs, strict=True)]
        return sp.expand(sum(terms) + sum(sp.diff(expr, J) * E**2 for J, E in zip(Is, Es, strict=True)))

    F = sp.diag(*fs)
    residual = (
        P_num.applyfunc(derivative) * det
        - P_num * derivative(det)
        - det * (F * P_num + P_num * F)
        + P_num * P_num
    ).applyfunc(sp.expand)
    f = sp.Symbol("f", real=True, nonzero=True)
    integral = (sp.exp(2 * f * t) - 1) / (2 * f)
    calculus = sp.Matrix(
        [
            sp.simplify(sp.diff(sp.exp(f * t), t) - f * sp.exp(f * t)),
            sp.simplify(sp.diff(integral, t) - sp.exp(2 * f * t)),
            integral.subs(t, 0),
            sp.diff(t, t) - sp.exp(0 * t) ** 2,
        ]
    )
    result = _result(
        f"det(N)^2 (P' - FP - PF + P^2), F = diag({', '.join(map(str, fs))}), Z0 {size}x{k}",
        sp.Matrix.vstack(residual.reshape(size * size, 1), calculus),
        "2.4",
        method="symbolic (polynomial identity with E' = fE, I' = E^2; plus those derivatives)",
    )
    result["residual"] = "0" if result["passes"] else result["residual"]
    return result


def riccati_general_numeric(digits: int = 40) -> dict[str, Any]:
    """The closed form for a non-diagonal F (m = n = 2, k = 2, λ = 0.7) checked in mpmath at 40 digits.

    Ṗ is computed by mpmath's numerical differentiation of the closed form at t = 0.3, 1.1, 2.5 and
    compared with FP + PF − P²; the largest entry of the difference must be below 10^{−(digits−12)}.
    """
    with mpmath.workdps(digits):
        lam = mpmath.mpf("0.7")
        Y = mpmath.matrix([["1.3", "0.4"], ["-0.2", "0.8"]])
        F = mpmath.zeros(4, 4)
        for i in range(2):
            F[i, i], F[i + 2, i + 2] = lam / 2, -lam / 2
            for j in range(2):
                F[i, j + 2] = F[j + 2, i] = Y[i, j]
        Z0 = mpmath.matrix([["0.3", "-0.1"], ["0.2", "0.4"], ["-0.5", "0.1"], ["0.1", "0.2"]])
        F_inv = F**-1

        def closed(time: Any) -> mpmath.matrix:
            expF = mpmath.expm(F * time)
            integral = F_inv * (mpmath.expm(2 * F * time) - mpmath.eye(4)) / 2
            N = mpmath.eye(2) + Z0.T * integral * Z0
            return expF * Z0 * N**-1 * Z0.T * expF

        worst = mpmath.mpf(0)
        for time in (mpmath.mpf("0.3"), mpmath.mpf("1.1"), mpmath.mpf("2.5")):
            P = closed(time)
            Pdot = mpmath.matrix(4, 4)
            for i in range(4):
                for j in range(4):
                    Pdot[i, j] = mpmath.diff(lambda s, i=i, j=j: closed(s)[i, j], time)
            worst = max(worst, mpmath.mnorm(Pdot - (F * P + P * F - P * P), 1))
        bound = mpmath.mpf(10) ** (-(digits - 12))
        return {
            "expression": "max |P' - (FP + PF - P^2)| for the closed form, F 4x4 non-diagonal, k = 2",
            "residual": mpmath.nstr(worst, 5),
            "passes": bool(worst < bound),
            "method": f"numeric (mpmath, {digits} digits, bound {mpmath.nstr(bound, 3)})",
            "section": "2.4",
        }


def _stacked_flow(m: int, n: int, k: int) -> dict[str, sp.Matrix]:
    U, V, Y = _matrix("u", m, k), _matrix("v", n, k), _matrix("y", m, n)
    lam = sp.Symbol("lambda", real=True)
    R = Y - U * V.T
    Z = sp.Matrix.vstack(U, V)
    return {
        "Z": Z,
        "Zdot": sp.Matrix.vstack(R * V, R.T * U),
        "F": sp.Matrix(sp.BlockMatrix([[lam / 2 * sp.eye(m), Y], [Y.T, -lam / 2 * sp.eye(n)]])),
        "Yhat": sp.Matrix(sp.BlockMatrix([[sp.zeros(m, m), Y], [Y.T, sp.zeros(n, n)]])),
        "J": sp.diag(*([1] * m + [-1] * n)),
        "Q": U.T * U - V.T * V,
        "lam": lam,
    }


def stacked_riccati_flow(m: int, n: int, k: int) -> dict[str, Any]:
    """Ż − (FZ − ½ZZᵀZ) = ½JZ(Q − λI) exactly, so Q = λI gives Ż = FZ − ½ZZᵀZ (derived, §2.4)."""
    s = _stacked_flow(m, n, k)
    Z, half = s["Z"], sp.Rational(1, 2)
    rhs = s["F"] * Z - half * Z * Z.T * Z
    residual = (s["Zdot"] - rhs - half * s["J"] * Z * (s["Q"] - s["lam"] * sp.eye(k))).applyfunc(sp.expand)
    return _result(f"Zdot - (FZ - Z Z^T Z/2) - J Z (Q - lam I)/2, m={m}, n={n}, k={k}", residual, "2.4")


def stacked_general_imbalance(m: int, n: int, k: int) -> dict[str, Any]:
    """Ż = ŶZ − ½ZZᵀZ + ½JZQ for any imbalance Q (derived, §2.4)."""
    s = _stacked_flow(m, n, k)
    Z, half = s["Z"], sp.Rational(1, 2)
    residual = (s["Zdot"] - (s["Yhat"] * Z - half * Z * Z.T * Z + half * s["J"] * Z * s["Q"])).applyfunc(
        sp.expand
    )
    return _result(f"Zdot - (Yhat Z - Z Z^T Z/2 + J Z Q/2), m={m}, n={n}, k={k}", residual, "2.4")


def _factor_flow(m: int, n: int, k: int) -> dict[str, Any]:
    """U(t), V(t) as functions of t with U̇ = RV, V̇ = RᵀU, R = Y − UVᵀ (the matrix flow, §2.1)."""
    U, V, Y = _matrix("u", m, k, True), _matrix("v", n, k, True), _matrix("y", m, n)
    R = Y - U * V.T
    flow = {sp.Derivative(U[i, j], t): (R * V)[i, j] for i in range(m) for j in range(k)}
    flow |= {sp.Derivative(V[i, j], t): (R.T * U)[i, j] for i in range(n) for j in range(k)}
    return {"U": U, "V": V, "R": R, "flow": flow}


def residual_flow(m: int, n: int, k: int) -> dict[str, Any]:
    """Ṙ = −UUᵀR − RVVᵀ exactly, for any imbalance: near a limit (U∞, V∞) the residual is the linear
    Sylvester flow Ṙ = −AR − RB with A = U∞U∞ᵀ, B = V∞V∞ᵀ (derived, §2.6)."""
    f = _factor_flow(m, n, k)
    U, V, R = f["U"], f["V"], f["R"]
    residual = (R.diff(t).subs(f["flow"]) + U * U.T * R + R * V * V.T).applyfunc(sp.expand)
    return _result(f"R' + U U^T R + R V V^T, R = Y - U V^T, m={m}, n={n}, k={k}", residual, "2.6")


def residual_energy(m: int, n: int, k: int) -> dict[str, Any]:
    """d/dt ½‖R‖²_F = −‖UᵀR‖²_F − ‖RV‖²_F: the identity behind the decay bound (derived, §2.6)."""
    f = _factor_flow(m, n, k)
    U, V, R = f["U"], f["V"], f["R"]
    energy = sp.Rational(1, 2) * (R.T * R).trace()
    UR, RV = U.T * R, R * V
    residual = sp.expand(energy.diff(t).subs(f["flow"]) + (UR.T * UR).trace() + (RV.T * RV).trace())
    return _result(f"d/dt |R|^2/2 + |U^T R|^2 + |R V|^2, m={m}, n={n}, k={k}", residual, "2.6")


def sylvester_modes(size: int) -> dict[str, Any]:
    """For symmetric A, B: A(abᵀ) + (abᵀ)B − (α + β)abᵀ = (Aa − αa)bᵀ + a(Bb − βb)ᵀ, so eigenvectors a of A
    and b of B give the modes abᵀ of the linearised residual flow, decaying at α + β (derived, §2.6)."""
    A, B = _matrix("a", size, size), _matrix("b", size, size)
    A, B = (A + A.T) / 2, (B + B.T) / 2
    a, b = _matrix("p", size, 1), _matrix("q", size, 1)
    alpha, beta = sp.symbols("alpha beta", real=True)
    mode = a * b.T
    residual = (
        A * mode + mode * B - (alpha + beta) * mode - ((A * a - alpha * a) * b.T + a * (B * b - beta * b).T)
    ).applyfunc(sp.expand)
    return _result(f"L(a b^T) - (alpha + beta) a b^T - eigen-residual terms, {size}x{size}", residual, "2.6")


def square_gram_spectra(k: int) -> dict[str, Any]:
    """For square U (k×k): det(xI − UUᵀ) = det(xI − UᵀU), so λ_min(UUᵀ) = λ_min(UᵀU); and at a minimiser
    UVᵀ = Y: det(xI − YᵀY) = det(xI − (UᵀU)(VᵀV)) (the data spectrum is that of N·M, §2.6)."""
    U, V = _matrix("u", k, k), _matrix("v", k, k)
    x = sp.Symbol("x")
    eye = sp.eye(k)
    Y = U * V.T
    gram = sp.expand((x * eye - U * U.T).det() - (x * eye - U.T * U).det())
    data = sp.expand((x * eye - Y.T * Y).det() - (x * eye - (U.T * U) * (V.T * V)).det())
    return _result(
        f"[charpoly(U U^T) - charpoly(U^T U), charpoly(Y^T Y) - charpoly(N M)], Y = U V^T, k={k}",
        sp.Matrix([gram, data]),
        "2.6",
    )


def rate_bound_algebra() -> dict[str, Any]:
    """r = a + b with a = λ_min(N), b = λ_min(M): r² = (a − b)² + 4ab, so |a − b| ≤ ‖Q‖₂ and ab ≤ σ_min² give
    r ≤ sqrt(‖Q‖₂² + 4σ_min²); for Q = λI (a − b = λ, ab = σ²) the bound is attained, r = sqrt(λ² + 4σ²),
    and the bound grows with both arguments (derived, §2.6)."""
    a, b, sigma, d, p = sp.symbols("a b sigma d p", positive=True)
    lam = sp.Symbol("lambda", real=True)
    square = sp.expand((a + b) ** 2 - ((a - b) ** 2 + 4 * a * b))
    # Q = λI: a − b = λ and ab = σ² have the positive solution a, b with a + b = sqrt(λ² + 4σ²).
    a_sol = (lam + sp.sqrt(lam**2 + 4 * sigma**2)) / 2
    b_sol = a_sol - lam
    attained = sp.Matrix(
        [
            sp.simplify(sp.expand(a_sol * b_sol) - sigma**2),
            sp.simplify(a_sol + b_sol - sp.sqrt(lam**2 + 4 * sigma**2)),
        ]
    )
    bound = sp.sqrt(d + 4 * p)
    monotone = sp.Matrix(
        [sp.simplify(sp.diff(bound, d) - 1 / (2 * bound)), sp.simplify(sp.diff(bound, p) - 2 / bound)]
    )
    return _result(
        "[(a+b)^2 - (a-b)^2 - 4ab, Q = lam I attains sqrt(lam^2+4 sigma^2), d/dd, d/dp of sqrt(d+4p) > 0]",
        sp.Matrix.vstack(sp.Matrix([square]), attained, monotone),
        "2.6",
    )


def imbalanced_init_identity(k: int) -> dict[str, Any]:
    """Q = Q₊ − Q₋ with Q₊ = E diag(max(q, 0))Eᵀ, Q₋ = E diag(max(−q, 0))Eᵀ; U0ᵀU0 = Q₊ + C, V0ᵀV0 = Q₋ + C
    give U0ᵀU0 − V0ᵀV0 = Q for any C (the general start, §2.6): here for a rotation E, diagonal q of
    mixed signs and a symbolic symmetric C."""
    theta = sp.Symbol("theta", real=True)
    if k != 2:
        raise ValueError("the symbolic check uses a 2x2 rotation")
    E = sp.Matrix([[sp.cos(theta), -sp.sin(theta)], [sp.sin(theta), sp.cos(theta)]])
    q1, q2 = sp.Symbol("q1", positive=True), -sp.Symbol("q2", positive=True)
    Q = E * sp.diag(q1, q2) * E.T
    positive, negative = E * sp.diag(q1, 0) * E.T, E * sp.diag(0, -q2) * E.T
    C = _matrix("c", k, k)
    C = (C + C.T) / 2
    residual = ((positive + C) - (negative + C) - Q).applyfunc(sp.simplify)
    return _result("(Q+ + C) - (Q- + C) - Q, Q = E diag(q1, -q2) E^T", residual, "2.6")


def descent_scalar_recursion() -> dict[str, Any]:
    """One GD step u' = u + ηrv, v' = v + ηru (r = y − uv) gives λ' = (1 − η²r²)λ (derived, §2.5)."""
    u, v, y, eta = sp.symbols("u v y eta", real=True)
    r = y - u * v
    u1, v1 = u + eta * r * v, v + eta * r * u
    residual = sp.expand((u1**2 - v1**2) - (1 - eta**2 * r**2) * (u**2 - v**2))
    return _result("lam_{k+1} - (1 - eta^2 r^2) lam_k", residual, "2.5")


def descent_matrix_recursion(m: int, k: int, n: int) -> dict[str, Any]:
    """W1' = W1 − ηGW2ᵀ, W2' = W2 − ηW1ᵀG change the imbalance by η²(W2GᵀGW2ᵀ − W1ᵀGGᵀW1) (§2.5)."""
    W1, W2, G = _matrix("a", m, k), _matrix("b", k, n), _matrix("g", m, n)
    eta = sp.Symbol("eta", real=True)
    W1n, W2n = W1 - eta * G * W2.T, W2 - eta * W1.T * G
    change = (W1n.T * W1n - W2n * W2n.T) - (W1.T * W1 - W2 * W2.T)
    residual = (change - eta**2 * (W2 * G.T * G * W2.T - W1.T * G * G.T * W1)).applyfunc(sp.expand)
    return _result(f"Q' - Q - eta^2 (W2 G^T G W2^T - W1^T G G^T W1), {m}x{k}x{n}", residual, "2.5")


def checks() -> dict[str, Callable[[], dict[str, Any]]]:
    """Name → check; every check is independent and cheap (the whole set runs in a few seconds)."""
    f1, f2 = sp.symbols("f1 f2", real=True, nonzero=True)
    return {
        "imbalance_conserved_2x2x2": lambda: imbalance_conserved(2, 2, 2),
        "imbalance_conserved_2x2x3": lambda: imbalance_conserved(2, 2, 3),
        "imbalance_conserved_3x2x2": lambda: imbalance_conserved(3, 2, 2),
        "square_loss_gradient_2x2x3": lambda: square_loss_gradient(2, 2, 3),
        "scalar_lambda_conserved": scalar_lambda_conserved,
        "scalar_wdot_factorisation": scalar_wdot_factorisation,
        "scalar_sum_of_squares_identity": scalar_sum_of_squares_identity,
        "scalar_wdot_in_w": scalar_wdot_in_w,
        "scalar_potential_derivative": scalar_potential_derivative,
        "scalar_linearised_rate": scalar_linearised_rate,
        "scalar_logistic": scalar_logistic,
        "scalar_potential_matches_logistic": scalar_potential_matches_logistic,
        "flow_matrix_spectrum": flow_matrix_spectrum,
        "riccati_scalar": lambda: riccati_closed_form([f1], 1, "1x1 (scalar Riccati p' = 2fp - p^2)"),
        "riccati_scalar_singular": lambda: riccati_closed_form([sp.Integer(0)], 1, "1x1, f = 0"),
        "riccati_diag_2x2_k1": lambda: riccati_closed_form([f1, f2], 1, "F = diag(f1, f2), Z0 2x1"),
        "riccati_singular_2x2_k1": lambda: riccati_closed_form(
            [f1, sp.Integer(0)], 1, "F = diag(f1, 0), Z0 2x1"
        ),
        "riccati_poly_3x3_k2": lambda: riccati_polynomial(3, 2),
        "riccati_poly_singular_3x3_k2": lambda: riccati_polynomial(3, 2, singular=True),
        "riccati_general_numeric": riccati_general_numeric,
        "stacked_riccati_flow_1x1x1": lambda: stacked_riccati_flow(1, 1, 1),
        "stacked_riccati_flow_2x2x2": lambda: stacked_riccati_flow(2, 2, 2),
        "stacked_riccati_flow_3x2x2": lambda: stacked_riccati_flow(3, 2, 2),
        "stacked_general_imbalance_2x2x2": lambda: stacked_general_imbalance(2, 2, 2),
        "residual_flow_2x2x2": lambda: residual_flow(2, 2, 2),
        "residual_flow_3x2x2": lambda: residual_flow(3, 2, 2),
        "residual_energy_2x2x2": lambda: residual_energy(2, 2, 2),
        "sylvester_modes_2x2": lambda: sylvester_modes(2),
        "square_gram_spectra_2x2": lambda: square_gram_spectra(2),
        "rate_bound_algebra": rate_bound_algebra,
        "imbalanced_init_identity_2x2": lambda: imbalanced_init_identity(2),
        "descent_scalar_recursion": descent_scalar_recursion,
        "descent_matrix_recursion_2x2x3": lambda: descent_matrix_recursion(2, 2, 3),
    }


def run_all() -> dict[str, Any]:
    """All checks as a JSON-serialisable dict with ``all_pass`` and the list of failures."""
    results = {name: check() for name, check in checks().items()}
    failed = sorted(name for name, result in results.items() if not result["passes"])
    return {"checks": results, "all_pass": not failed, "failed": failed, "n_checks": len(results)}
