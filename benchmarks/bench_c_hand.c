/* Hand-written value-and-gradient batch kernels, the yardstick for the generated C in
 * bench_c.py. Each has the signature of the generated f_value_and_grad_batch (every input
 * per point, value and one gradient array per parameter out) and uses the textbook
 * derivative formulas, reusing forward values the way one would by hand. */
#include <math.h>
#include <stddef.h>

void hand_seed(size_t n, const double *restrict x, const double *restrict y,
               double *restrict value, double *restrict gx, double *restrict gy);
void hand_rosenbrock(size_t n, const double *restrict x, const double *restrict y,
                     double *restrict value, double *restrict gx, double *restrict gy);
void hand_logistic(size_t n, const double *restrict w1, const double *restrict w2,
                   const double *restrict b, const double *restrict x1,
                   const double *restrict x2, const double *restrict y,
                   double *restrict value, double *restrict gw1, double *restrict gw2,
                   double *restrict gb, double *restrict gx1, double *restrict gx2,
                   double *restrict gy);
void hand_mlp(size_t n, const double *restrict w11, const double *restrict w12,
              const double *restrict w13, const double *restrict w21,
              const double *restrict w22, const double *restrict w23,
              const double *restrict b1, const double *restrict b2,
              const double *restrict b3, const double *restrict v1,
              const double *restrict v2, const double *restrict v3,
              const double *restrict c, const double *restrict x1,
              const double *restrict x2, const double *restrict y, double *restrict value,
              double *restrict g_w11, double *restrict g_w12, double *restrict g_w13,
              double *restrict g_w21, double *restrict g_w22, double *restrict g_w23,
              double *restrict g_b1, double *restrict g_b2, double *restrict g_b3,
              double *restrict g_v1, double *restrict g_v2, double *restrict g_v3,
              double *restrict g_c, double *restrict g_x1, double *restrict g_x2,
              double *restrict g_y);

/* f = (x² + xy)y³;  ∂f/∂x = (2x + y)y³;  ∂f/∂y = xy³ + 3(x² + xy)y² */
void hand_seed(size_t n, const double *restrict x, const double *restrict y,
               double *restrict value, double *restrict gx, double *restrict gy)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double xi = x[i], yi = y[i];
        const double y2 = yi * yi, y3 = y2 * yi, u = xi * xi + xi * yi;
        value[i] = u * y3;
        gx[i] = (2.0 * xi + yi) * y3;
        gy[i] = xi * y3 + 3.0 * u * y2;
    }
}

/* f = (1 - x)² + 100(y - x²)²;  ∂f/∂x = -2(1 - x) - 400x(y - x²);  ∂f/∂y = 200(y - x²) */
void hand_rosenbrock(size_t n, const double *restrict x, const double *restrict y,
                     double *restrict value, double *restrict gx, double *restrict gy)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double xi = x[i];
        const double a = 1.0 - xi, b = y[i] - xi * xi;
        value[i] = a * a + 100.0 * b * b;
        gx[i] = -2.0 * a - 400.0 * xi * b;
        gy[i] = 200.0 * b;
    }
}

/* z = w1 x1 + w2 x2 + b, s = σ(z), loss = -(y log s + (1 - y) log(1 - s));
 * ∂loss/∂z = s - y, and ∂loss/∂y = log(1 - s) - log s */
void hand_logistic(size_t n, const double *restrict w1, const double *restrict w2,
                   const double *restrict b, const double *restrict x1,
                   const double *restrict x2, const double *restrict y,
                   double *restrict value, double *restrict gw1, double *restrict gw2,
                   double *restrict gb, double *restrict gx1, double *restrict gx2,
                   double *restrict gy)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double z = w1[i] * x1[i] + w2[i] * x2[i] + b[i];
        const double s = 1.0 / (1.0 + exp(-z));
        const double ls = log(s), l1s = log(1.0 - s), yi = y[i];
        const double d = s - yi;
        value[i] = -(yi * ls + (1.0 - yi) * l1s);
        gw1[i] = d * x1[i];
        gw2[i] = d * x2[i];
        gb[i] = d;
        gx1[i] = d * w1[i];
        gx2[i] = d * w2[i];
        gy[i] = l1s - ls;
    }
}

/* A 2-3-1 tanh network's squared error: a_j = w1j x1 + w2j x2 + b_j, h_j = tanh(a_j),
 * o = Σ v_j h_j + c, loss = (o - y)²; backpropagation by hand. */
void hand_mlp(size_t n, const double *restrict w11, const double *restrict w12,
              const double *restrict w13, const double *restrict w21,
              const double *restrict w22, const double *restrict w23,
              const double *restrict b1, const double *restrict b2,
              const double *restrict b3, const double *restrict v1,
              const double *restrict v2, const double *restrict v3,
              const double *restrict c, const double *restrict x1,
              const double *restrict x2, const double *restrict y, double *restrict value,
              double *restrict g_w11, double *restrict g_w12, double *restrict g_w13,
              double *restrict g_w21, double *restrict g_w22, double *restrict g_w23,
              double *restrict g_b1, double *restrict g_b2, double *restrict g_b3,
              double *restrict g_v1, double *restrict g_v2, double *restrict g_v3,
              double *restrict g_c, double *restrict g_x1, double *restrict g_x2,
              double *restrict g_y)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t i = 0; i < m; ++i) {
        const double p = x1[i], q = x2[i];
        const double h1 = tanh(w11[i] * p + w21[i] * q + b1[i]);
        const double h2 = tanh(w12[i] * p + w22[i] * q + b2[i]);
        const double h3 = tanh(w13[i] * p + w23[i] * q + b3[i]);
        const double r = v1[i] * h1 + v2[i] * h2 + v3[i] * h3 + c[i] - y[i];
        const double d = 2.0 * r;
        const double t1 = d * v1[i] * (1.0 - h1 * h1);
        const double t2 = d * v2[i] * (1.0 - h2 * h2);
        const double t3 = d * v3[i] * (1.0 - h3 * h3);
        value[i] = r * r;
        g_w11[i] = t1 * p;
        g_w12[i] = t2 * p;
        g_w13[i] = t3 * p;
        g_w21[i] = t1 * q;
        g_w22[i] = t2 * q;
        g_w23[i] = t3 * q;
        g_b1[i] = t1;
        g_b2[i] = t2;
        g_b3[i] = t3;
        g_v1[i] = d * h1;
        g_v2[i] = d * h2;
        g_v3[i] = d * h3;
        g_c[i] = d;
        g_x1[i] = t1 * w11[i] + t2 * w12[i] + t3 * w13[i];
        g_x2[i] = t1 * w21[i] + t2 * w22[i] + t3 * w23[i];
        g_y[i] = -d;
    }
}
