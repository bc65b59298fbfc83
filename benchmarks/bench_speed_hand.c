/* Hand-written value-and-gradient batch kernels of the five functions of bench_speed.py,
 * and the memory floor: a copy of the same bytes. bench_speed.py builds this file twice,
 * with `gcc -O3 -march=native -fopenmp` and with `-ffast-math` added (which lets gcc call
 * glibc's vector math, libmvec, from vectorised loops).
 *
 * Every kernel reads one array per parameter and writes the value and one gradient array
 * per parameter, n points each, with the textbook derivative formulas, reusing forward
 * values the way one would by hand. The points are shared among OpenMP threads. */
#include <math.h>
#include <stddef.h>

#define R restrict

void speed_seed(size_t n, const double *R x, const double *R y,
                double *R f, double *R gx, double *R gy);
void speed_rosenbrock(size_t n, const double *R x, const double *R y,
                      double *R f, double *R gx, double *R gy);
void speed_logistic(size_t n, const double *R w1, const double *R w2, const double *R b,
                    const double *R x1, const double *R x2, const double *R y,
                    double *R f, double *R gw1, double *R gw2, double *R gb,
                    double *R gx1, double *R gx2, double *R gy);
void speed_mlp(size_t n, const double *const *in, double *const *out);
void speed_trig(size_t n, const double *R x, const double *R y,
                double *R f, double *R gx, double *R gy);
void speed_floor(size_t n, size_t k, const double *const *in, size_t m,
                 double *const *out);

/* f = (x² + xy)y³;  ∂f/∂x = (2x + y)y³;  ∂f/∂y = xy³ + 3(x² + xy)y² */
void speed_seed(size_t n, const double *R x, const double *R y,
                double *R f, double *R gx, double *R gy)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for simd schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double xi = x[i], yi = y[i];
        const double y2 = yi * yi, y3 = y2 * yi, u = xi * xi + xi * yi;
        f[i] = u * y3;
        gx[i] = (2.0 * xi + yi) * y3;
        gy[i] = xi * y3 + 3.0 * u * y2;
    }
}

/* f = (1 - x)² + 100(y - x²)²;  ∂f/∂x = -2(1 - x) - 400x(y - x²);  ∂f/∂y = 200(y - x²) */
void speed_rosenbrock(size_t n, const double *R x, const double *R y,
                      double *R f, double *R gx, double *R gy)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for simd schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double xi = x[i];
        const double a = 1.0 - xi, b = y[i] - xi * xi;
        f[i] = a * a + 100.0 * b * b;
        gx[i] = -2.0 * a - 400.0 * xi * b;
        gy[i] = 200.0 * b;
    }
}

/* z = w1 x1 + w2 x2 + b, s = σ(z), loss = -(y log s + (1 - y) log(1 - s));
 * ∂loss/∂z = s - y, and ∂loss/∂y = log(1 - s) - log s */
void speed_logistic(size_t n, const double *R w1, const double *R w2, const double *R b,
                    const double *R x1, const double *R x2, const double *R y,
                    double *R f, double *R gw1, double *R gw2, double *R gb,
                    double *R gx1, double *R gx2, double *R gy)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for simd schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double z = w1[i] * x1[i] + w2[i] * x2[i] + b[i];
        const double s = 1.0 / (1.0 + exp(-z));
        const double ls = log(s), l1s = log(1.0 - s), yi = y[i];
        const double d = s - yi;
        f[i] = -(yi * ls + (1.0 - yi) * l1s);
        gw1[i] = d * x1[i];
        gw2[i] = d * x2[i];
        gb[i] = d;
        gx1[i] = d * w1[i];
        gx2[i] = d * w2[i];
        gy[i] = l1s - ls;
    }
}

/* a_j = w1j x1 + w2j x2 + b_j, t_j = tanh(a_j), o = Σ v_j t_j + c, loss = (o - y)²;
 * with d = 2(o - y) and e_j = d v_j (1 - t_j²): ∂/∂v_j = d t_j, ∂/∂c = d, ∂/∂y = -d,
 * ∂/∂w1j = e_j x1, ∂/∂w2j = e_j x2, ∂/∂b_j = e_j, ∂/∂x1 = Σ e_j w1j, ∂/∂x2 = Σ e_j w2j.
 * Inputs in the order w11 w12 w13 w21 w22 w23 b1 b2 b3 v1 v2 v3 c x1 x2 y; outputs the
 * value, then the gradient in the same order. */
void speed_mlp(size_t n, const double *const *in, double *const *out)
{
    const double *R w11 = in[0], *R w12 = in[1], *R w13 = in[2];
    const double *R w21 = in[3], *R w22 = in[4], *R w23 = in[5];
    const double *R b1 = in[6], *R b2 = in[7], *R b3 = in[8];
    const double *R v1 = in[9], *R v2 = in[10], *R v3 = in[11];
    const double *R c = in[12], *R x1 = in[13], *R x2 = in[14], *R y = in[15];
    double *R f = out[0];
    double *R g11 = out[1], *R g12 = out[2], *R g13 = out[3];
    double *R g21 = out[4], *R g22 = out[5], *R g23 = out[6];
    double *R gb1 = out[7], *R gb2 = out[8], *R gb3 = out[9];
    double *R gv1 = out[10], *R gv2 = out[11], *R gv3 = out[12];
    double *R gc = out[13], *R gx1 = out[14], *R gx2 = out[15], *R gy = out[16];
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for simd schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double p = x1[i], q = x2[i];
        const double t1 = tanh(w11[i] * p + w21[i] * q + b1[i]);
        const double t2 = tanh(w12[i] * p + w22[i] * q + b2[i]);
        const double t3 = tanh(w13[i] * p + w23[i] * q + b3[i]);
        const double r = v1[i] * t1 + v2[i] * t2 + v3[i] * t3 + c[i] - y[i];
        const double d = 2.0 * r;
        const double e1 = d * v1[i] * (1.0 - t1 * t1);
        const double e2 = d * v2[i] * (1.0 - t2 * t2);
        const double e3 = d * v3[i] * (1.0 - t3 * t3);
        f[i] = r * r;
        g11[i] = e1 * p;
        g12[i] = e2 * p;
        g13[i] = e3 * p;
        g21[i] = e1 * q;
        g22[i] = e2 * q;
        g23[i] = e3 * q;
        gb1[i] = e1;
        gb2[i] = e2;
        gb3[i] = e3;
        gv1[i] = d * t1;
        gv2[i] = d * t2;
        gv3[i] = d * t3;
        gc[i] = d;
        gx1[i] = e1 * w11[i] + e2 * w12[i] + e3 * w13[i];
        gx2[i] = e1 * w21[i] + e2 * w22[i] + e3 * w23[i];
        gy[i] = -d;
    }
}

/* u = cos(x) tan(y/4), f = sin(u) + cos(xy);
 * ∂f/∂x = -cos(u) sin(x) tan(y/4) - y sin(xy);
 * ∂f/∂y = cos(u) cos(x) (1 + tan²(y/4)) / 4 - x sin(xy) */
void speed_trig(size_t n, const double *R x, const double *R y,
                double *R f, double *R gx, double *R gy)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for simd schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double xi = x[i], yi = y[i];
        const double cx = cos(xi), sx = sin(xi), t = tan(0.25 * yi);
        const double u = cx * t, cu = cos(u), xy = xi * yi, sxy = sin(xy);
        f[i] = sin(u) + cos(xy);
        gx[i] = -cu * sx * t - yi * sxy;
        gy[i] = 0.25 * cu * cx * (1.0 + t * t) - xi * sxy;
    }
}

/* The memory floor: reads the k input arrays once and writes m output arrays (output j
 * a copy of input j mod k), n points each, in blocks of points small enough that an input
 * read twice comes from the cache: the bytes a value-and-gradient kernel moves. */
void speed_floor(size_t n, size_t k, const double *const *in, size_t m,
                 double *const *out)
{
    enum { BLOCK = 512 };
    const ptrdiff_t blocks = (ptrdiff_t)((n + BLOCK - 1) / BLOCK);
#pragma omp parallel for simd schedule(static)
    for (ptrdiff_t blk = 0; blk < blocks; ++blk) {
        const size_t lo = (size_t)blk * BLOCK;
        const size_t hi = lo + BLOCK < n ? lo + BLOCK : n;
        for (size_t j = 0; j < m; ++j) {
            const double *R src = in[j % k];
            double *R dst = out[j];
            for (size_t i = lo; i < hi; ++i)
                dst[i] = src[i];
        }
    }
}
